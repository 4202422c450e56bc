"""SIP signalling for Zvans: messages, transports, RFC 3261 transactions and dialogs,
digest auth, registrar, trunks, toll-fraud guards and the user-agent core (``SipStack``).

Media (RTP, SDP offer/answer) lives in ``zvans.telephony.media``; bodies are opaque here.
"""

from .auth import (
    AuthResult,
    Challenge,
    CredentialLookup,
    Credentials,
    DigestServer,
    build_authorization,
    ha1,
)
from .clock import LoopScheduler, Scheduler, VirtualScheduler
from .dialog import Dialog, DialogId, DialogState
from .errors import InvalidTransition, SipError, SipParseError, TransactionTimeout, TransportError
from .message import Headers, Request, Response, make_response, parse_message
from .registrar import Binding, Registrar
from .security import (
    IpAllowList,
    LagMonitor,
    RateLimiter,
    TokenBucket,
    is_authorised_to_dial,
    normalise_number,
)
from .stack import CallLeg, IncomingCall, IncomingRequest, OutgoingCall, SipStack, StackConfig
from .transaction import (
    ClientTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    TransactionLayer,
    TxState,
)
from .transport import Peer, TransportManager
from .trunk import RegistrationClient, TrunkConfig
from .uri import NameAddr, SipUri, Via

__all__ = [
    "AuthResult",
    "Binding",
    "CallLeg",
    "Challenge",
    "ClientTransaction",
    "CredentialLookup",
    "Credentials",
    "Dialog",
    "DialogId",
    "DialogState",
    "DigestServer",
    "Headers",
    "IncomingCall",
    "IncomingRequest",
    "InvalidTransition",
    "IpAllowList",
    "LagMonitor",
    "LoopScheduler",
    "NameAddr",
    "OutgoingCall",
    "Peer",
    "RateLimiter",
    "Registrar",
    "RegistrationClient",
    "Request",
    "Response",
    "Scheduler",
    "ServerTransaction",
    "SipError",
    "SipParseError",
    "SipStack",
    "SipUri",
    "StackConfig",
    "TimerConfig",
    "TokenBucket",
    "Transaction",
    "TransactionLayer",
    "TransactionTimeout",
    "TransportError",
    "TransportManager",
    "TrunkConfig",
    "TxState",
    "Via",
    "VirtualScheduler",
    "build_authorization",
    "ha1",
    "is_authorised_to_dial",
    "make_response",
    "normalise_number",
    "parse_message",
]
