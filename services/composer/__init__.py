"""The composer service: one reply from the drafts of a message's several issues."""
