"""The MCP face: the server whose tools are built from `operations/` (`server.py`), and
`mcp install`, which registers it in MCP clients' config files (`install.py`)."""
