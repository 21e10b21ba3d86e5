"""The weights wing: trained models on disk and on the Hugging Face Hub.

The checkpoint format (config.json + model.safetensors, saved atomically, loaded
strictly, held to the bounds in `limits` before anything is built or read), the
`Pipeline` that samples a loaded checkpoint and the `smoke_test` a model passes before
it is installed or served, Hub push and pull with their checks and command-line glue,
model cards, and where the app's weights come from.
It imports the maths at the package root (schedules, samplers, models) and nothing
of the evaluation or demo wings.
"""
