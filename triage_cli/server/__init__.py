"""`triage serve`: the same triage over HTTP, each turn streamed as Server-Sent Events. A front end
like the terminal's: it opens a TriageSession per request and renders its events; it holds no
orchestration. FastAPI and uvicorn are imported only here, and only by `triage serve`."""
