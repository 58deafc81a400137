"""Models: locating them, the built-in tiny-demo, their structure and loading."""
