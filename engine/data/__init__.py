"""Training data, as stages that run top to bottom (engine.data.pipeline strings them together):

per source, engine.data.source.prepare_source:
  read       source/read.py       the local file or Hub dataset as a table; bytes that are not UTF-8 text named
  map        source/map.py        dataset.columns, message_keys and roles renamed to ours
  normalise  source/normalise.py  what is not SFT data refused; message tables and usual column pairs read
  check      source/check.py      the format resolved against the columns; every row checked; unused columns named
  convert    source/convert.py    rows in SFTTrainer's shape, fitted to the model's chat template
then mix     mix.py               which rows of each source are trained and evaluated, in what order (a plan)
then label   label/               the plan's rows as token ids and loss labels, each source with its own rules

pipeline.py runs them for training, `check`, the wizard and the memory estimate (prepare_for_training);
preview.py shows one labelled row as the trainer's collator hands it over (the wizard, `check --sample`).
"""
