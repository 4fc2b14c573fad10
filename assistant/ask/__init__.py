"""Ask: answers from the notes with checked citations (quoted offline, generated with an LLM), the refusal gate and follow-up questions."""
