"""The Gradio front end. Nothing outside this package imports gradio."""
