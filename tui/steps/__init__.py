"""The wizard's steps, one widget each; every step is a thin view over engine/."""
