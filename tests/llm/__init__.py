"""The OpenAI provider through the real SDK against the fake server."""
