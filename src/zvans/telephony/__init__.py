"""Telephony: SIP signalling (``sip``), media (``media``), the B2BUA and IVR on top."""
