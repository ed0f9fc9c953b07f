"""Reading visitor text, shared by the AI and the escalation policy: tokens, stems,
sentences, negation scopes (:mod:`.text`) and questions about the assistant itself
(:mod:`.identity`).

It imports nothing else of the server, so the AI (which answers a question about the
assistant) and escalation (which must not read it as a request for a person) agree
without either importing the other.
"""
