"""Label: the converted rows as token ids and loss labels, each source with its own rules, in the mixture's order.

learning    the run's loss settings for a source, its rows labelled and cut, and what the model learns in words
rows        one row's token ids and labels (copied verbatim into export-script's scripts)
turn_masks  the loss mask changed by turns that mark themselves learned or not (OpenAI weight, Axolotl train)
mixture     a mixture plan's rows labelled, each source's rows once, put in the plan's order
lengths     the labelled rows' token lengths against training.max_length
"""
