"""The web dashboard the daemon serves: logins and sessions, the HTTP gate, the page."""
