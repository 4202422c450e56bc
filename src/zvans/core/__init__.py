"""Pure domain core of Zvans: routing, state machines, queue maths and metric definitions.

Nothing in this package performs I/O or imports another zvans package; time comes from an
injected :class:`zvans.core.clock.Clock`, so tests and the simulator run on virtual time.
"""
