"""Builds the Gradio Blocks app: one tab per activity (Ask, Quiz, Sources)."""

from __future__ import annotations

import gradio as gr

from ..runtime import Runtime


def build(runtime: Runtime) -> gr.Blocks:
    with gr.Blocks(title="AI Engineering Tutor") as demo:
        gr.Markdown("## AI Engineering Tutor")
        with gr.Tab("Ask"):
            query = gr.Textbox(label="Search your notes")
            results = gr.Markdown()

            def search(q: str) -> str:
                hits = runtime.retriever.search(q, k=5)
                return "\n\n".join(f"**{h.chunk.source} › {h.chunk.heading}**\n\n{h.chunk.text}" for h in hits)

            query.submit(search, query, results)
    return demo


def launch(runtime: Runtime) -> None:
    build(runtime).queue().launch(
        server_name=runtime.settings.host, server_port=runtime.settings.port, show_error=False
    )
