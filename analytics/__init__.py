"""Learning from history: what customers asked and how it went.

Per-article feedback and the content-gap report for KB editors, the escalation figures for team leads. Reads the
conversations, the desk's tickets and events and the KB; writes only its own small tables (dismissed gap groups).
"""
