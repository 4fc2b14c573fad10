"""Writes a minimal text PDF, so tests need no PDF-writing library. Each page is a string; its
lines go one under the other, a line starting with "# " is set as a heading (bold, 16 pt over
the body's 12 pt), as a word processor exports one, and a line's tab-separated cells are set in
columns 150 pt apart, as a table."""

from __future__ import annotations


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    objects: list[bytes] = []
    n_pages = len(pages)
    # 1: catalog, 2: pages, 3: font, then per page: page object + content stream
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        shown = []
        x = 0  # the text position's offset from the left margin (Td moves are relative)
        for n, line in enumerate(text.split("\n")):
            font = "/F2 16" if line.startswith("# ") else "/F1 12"
            line = line[2:] if line.startswith("# ") else line
            for column, cell in enumerate(line.split("\t")):
                safe = cell.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                if column:
                    move = "150 0 Td"
                    x += 150
                else:
                    move = "72 720 Td" if n == 0 else f"{-x} -18 Td"
                    x = 0
                shown.append(f"{font} Tf {move} ({safe}) Tj")
        stream = f"BT {' '.join(shown)} ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R "
            f"/F2 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >> >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = None
    if title:
        objects.append(f"<< /Title ({title}) >>".encode())
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R"
    if info:
        trailer += f" /Info {info} 0 R"
    out += f"trailer\n{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


if __name__ == "__main__":
    import sys

    sys.stdout.buffer.write(
        pdf_bytes(
            [
                "Prompt engineering adapts a model with instructions and context.",
                "Few-shot examples in the prompt show the model the expected output format.",
            ],
            title="Prompting Guide",
        )
    )
