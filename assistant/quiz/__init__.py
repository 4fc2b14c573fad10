"""Quiz: questions generated from the notes, answer checking, LLM-written items, FSRS review scheduling and progress."""
