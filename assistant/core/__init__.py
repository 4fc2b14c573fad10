"""The core every feature shares: plain data types, settings, user-facing errors, the text toolkit, wording. Imports no feature."""
