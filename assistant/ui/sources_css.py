"""The Sources tab's styles, one block per part of the tab (Gradio scopes each to its component)."""

COMMON_CSS = """
.muted { color: var(--tutor-muted); }
.badge { display: inline-block; font-size: 11px; line-height: 16px; padding: 0 6px; margin-left: 4px;
  border-radius: 999px; border: 1px solid var(--border-color-primary); font-weight: 500;
  color: var(--tutor-muted); vertical-align: middle; white-space: nowrap; }
.badge.edited, .badge.interrupted { border-color: var(--tutor-warn-border); color: var(--tutor-warn); }
.badge.new { border-color: var(--tutor-info-border); color: var(--tutor-info); }
.badge.deleted, .badge.skipped { border-color: var(--tutor-bad-border); color: var(--tutor-bad); }
.badge.cited-badge { border-color: var(--tutor-warn-border); color: var(--tutor-warn); }
.count { margin-left: auto; padding-left: 8px; font-size: 12px; color: var(--tutor-muted);
  font-variant-numeric: tabular-nums; }
.error { color: var(--tutor-bad); }
.wikilink { color: var(--link-text-color); }
strong.callout { display: block; }
mark.term { background: var(--color-accent-soft); color: var(--body-text-color); font-weight: 600;
  border-radius: 2px; padding: 0 1px; }
button.hit, button.file, button.heading, button.linkish { all: unset; box-sizing: border-box;
  cursor: pointer; }
button:focus-visible { outline: 2px solid var(--color-accent); outline-offset: 1px; }
"""

TREE_CSS = COMMON_CSS + """
.src-tree { max-height: calc(100vh - 330px); min-height: 120px; overflow-y: auto; overflow-x: hidden;
  font-size: 14px; padding-right: 2px; }
.src-empty { color: var(--tutor-muted); font-size: 14px; padding: 12px 4px; }
.src-folder { font-size: 12px; color: var(--tutor-muted); padding: 8px 6px 2px; }
details.src-file > summary { list-style: none; display: flex; align-items: center; padding: 3px 6px;
  border-radius: var(--radius-md); cursor: pointer; }
details.src-file > summary::-webkit-details-marker { display: none; }
details.src-file > summary::before { content: '▸'; display: inline-block; width: 14px; flex: none;
  font-size: 13px; color: var(--tutor-muted); }
details.src-file[open] > summary::before { content: '▾'; }
details.src-file > summary:hover, button.heading:hover { background: var(--background-fill-secondary); }
button.file { display: flex; align-items: center; min-width: 0; font-weight: 600; font-size: 14px; }
button.heading { display: flex; align-items: center; width: 100%; padding: 2px 6px 2px 26px;
  border-radius: var(--radius-md); color: var(--body-text-color); }
button.heading.d1 { padding-left: 40px; } button.heading.d2 { padding-left: 54px; }
button.heading.d3, button.heading.d4, button.heading.d5 { padding-left: 68px; }
button.current { color: var(--tutor-accent-text); }
button.heading.current { background: var(--color-accent-soft); }
.name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
"""

HITS_CSS = COMMON_CSS + """
.hits { display: flex; flex-direction: column; gap: 6px; max-height: 46vh; overflow-y: auto;
  overflow-x: hidden; }
.hits-head { font-size: 12px; color: var(--tutor-muted); }
.notice { font-size: 13px; color: var(--tutor-muted); margin: 4px 0; }
button.hit { display: block; width: 100%; padding: 8px 10px; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-md); background: var(--background-fill-primary); }
button.hit:hover, button.hit.current { border-color: var(--color-accent); }
.hit-where { display: block; font-size: 12px; font-weight: 600; overflow-wrap: anywhere; }
.rank { display: inline-block; min-width: 16px; color: var(--tutor-muted); }
.hit-text { display: block; font-size: 13px; line-height: 1.45; margin: 4px 0; overflow-wrap: anywhere; }
.hit-score { display: block; font-size: 11px; color: var(--tutor-muted); }
"""

STATUS_CSS = COMMON_CSS + """
.src-status { font-size: 14px; line-height: 1.5; }
.src-status .facts b { font-variant-numeric: tabular-nums; }
.stale { color: var(--tutor-warn); font-size: 13px; overflow-wrap: anywhere; }
.fresh { color: var(--tutor-muted); font-size: 13px; }
.message { font-size: 13px; margin-top: 2px; overflow-wrap: anywhere; }
.done { color: var(--tutor-ok); }
details.skipped { font-size: 12px; color: var(--tutor-muted); }
details.skipped ul, ul.upload-result { margin: 2px 0 0 18px; padding: 0; }
ul.upload-result { font-size: 13px; }
"""

VIEW_CSS = COMMON_CSS + """
.src-view { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-primary); min-width: 0; }
.note-head { padding: 10px 18px 8px; border-bottom: 1px solid var(--border-color-primary); }
.note-path { font-size: 16px; overflow-wrap: anywhere; }
.note-path .folder { color: var(--tutor-muted); }
.note-meta, .note-focus { font-size: 12px; color: var(--tutor-muted); margin-top: 2px; }
.note-focus { color: var(--body-text-color); }
.note-body { padding: 4px 22px 28px; max-height: calc(100vh - 290px); min-height: 300px; overflow-y: auto;
  overflow-x: hidden; line-height: 1.6; overflow-wrap: anywhere; font-size: 15px; }
.note-body h1 { font-size: 1.5em; } .note-body h2 { font-size: 1.3em; } .note-body h3 { font-size: 1.12em; }
.note-body h1, .note-body h2, .note-body h3, .note-body h4 { margin: 1.1em 0 .4em; line-height: 1.3; }
.note-body pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--background-fill-secondary);
  padding: 10px 12px; border-radius: var(--radius-md); font-size: 13px; }
.note-body code { font-family: var(--font-mono); font-size: .9em; }
.note-body table { display: block; max-width: 100%; overflow-x: auto; border-collapse: collapse; }
.note-body td, .note-body th { border: 1px solid var(--border-color-primary); padding: 4px 8px; }
.note-body img { max-width: 100%; height: auto; }
.img-alt { color: var(--tutor-muted); font-style: italic; }
.note-body blockquote { margin: .6em 0; padding-left: 12px; border-left: 3px solid var(--border-color-primary);
  color: var(--tutor-muted); }
.plain { white-space: pre-wrap; }
mark.cited { background: var(--tutor-mark-bg); color: var(--tutor-mark-text); border-radius: 2px;
  padding: 1px 0; box-shadow: 0 0 0 1px var(--tutor-mark-ring); }
mark.section { background: var(--tutor-section-bg); color: var(--body-text-color); border-radius: 2px; }
.page-no { font-size: 12px; color: var(--tutor-muted); margin: 14px 0 6px;
  border-bottom: 1px dashed var(--border-color-primary); }
.chunk { border: 1px dashed var(--border-color-primary); border-radius: var(--radius-md); padding: 8px 12px;
  margin: 12px 0; }
.chunk.cited { border: 2px solid var(--tutor-warn-border); background: var(--tutor-mark-soft); }
.chunk-head { font-size: 13px; } .chunk-no { font-weight: 700; margin-right: 4px; }
.chunk-facts { font-size: 12px; color: var(--tutor-muted); }
.chunk-text { font-size: 14px; margin-top: 6px; }
button.linkish { color: var(--tutor-accent-text); font-size: 12px; margin-top: 4px; }
button.linkish:hover { text-decoration: underline; }
.lost .notice { font-size: 13px; color: var(--tutor-warn); }
.src-message { padding: 48px 24px; text-align: center; color: var(--tutor-muted); }
"""
