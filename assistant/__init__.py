"""A tutor over your own AI-engineering notes: ask, quiz, browse."""
