"""Outgoing mail (password reset). Without an SMTP host, or in demo mode, the message is
written to the log instead, so a demo or a test can read the link."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from zvans.config import Settings

log = logging.getLogger("zvans.mail")


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    if settings.demo_mode or not settings.smtp_host:
        log.warning("mail (not sent: %s) to=%s subject=%s\n%s",
                    "demo mode" if settings.demo_mode else "no smtp_host", to, subject, body)
        return
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("could not send mail to %s: %s", to, exc)
