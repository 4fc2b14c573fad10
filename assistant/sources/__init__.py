"""Sources: the notes folder (safe paths, uploads, deletes), rendering notes, the tree of headings and the Sources view."""
