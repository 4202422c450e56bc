"""The runtime: the pure ACD engine wrapped with persistence, events and call control.

Telephony, the web desktop, demo traffic and tests all drive calls through the same
``ContactCenter`` commands; the ACD's decisions go to a ``CallControl``.
"""

from zvans.runtime.call_control import CallControl, NullCallControl, RecordingCallControl
from zvans.runtime.contact_center import ContactCenter, attach

__all__ = ["CallControl", "ContactCenter", "NullCallControl", "RecordingCallControl", "attach"]
