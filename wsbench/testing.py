"""pytest plugin (entry point pytest11): work in progress."""
