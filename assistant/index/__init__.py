"""The index: reading notes by format, chunking them into passages, embedding, the vector store, incremental ingestion and hybrid retrieval."""
