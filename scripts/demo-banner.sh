#!/usr/bin/env bash
# What `make demo` prints before the server starts: where to go and how to log in.
host=${ZVANS_HOST:-127.0.0.1}; port=${ZVANS_PORT:-8000}; sip=${ZVANS_SIP_PORT:-5060}
siphost=${ZVANS_SIP_HOST:-127.0.0.1}; realm=${ZVANS_SIP_DOMAIN:-zvans.local}
cat <<TXT

  Zvans demo is starting.
  Open http://$host:$port/ in a browser.
    administrator  admin / admin-demo-1
    supervisor     supervisor / super-demo-1
    agents         anna.berzina, martins.ozols, liga.kalnina, john.miller,
                   ruta.petraite, edgars.liepa, ilze.vitola, karlis.egle / agent-demo-1
  SIP: sip:$siphost:$sip (UDP/TCP), realm $realm; agents register with the same
  user name and password. Demo numbers: +37160000000 (IVR menu),
  +37160000100 (Latvian), +37160000101 (English), +37160000102 (Lithuanian).
  Stop with Ctrl+C.

TXT
