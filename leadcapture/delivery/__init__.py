"""Sending mail: every message a person gets, at most once, behind its send-time consent gate.

- links: every URL a message carries; templates: render and compose; wire: the one serialiser;
  transports: Maildir and SMTP, and how their failures are told apart; dkim; throttle.
- engine: the at-most-once delivery engine (claim, transmit, mark), per message or batched.
- the kinds, one module each, that build their message and call the engine: confirmation,
  asset, repermission, welcome, and campaigns (with content and its renderer).
"""
