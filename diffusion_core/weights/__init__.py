"""The weights wing: trained models on disk and on the Hugging Face Hub.

The checkpoint format (config.json + model.safetensors, saved atomically, loaded
strictly), the `Pipeline` that samples a loaded checkpoint, Hub push and pull with
their command-line glue, model cards, and where the app's weights come from.
It imports the maths at the package root (schedules, samplers, models) and nothing
of the evaluation or demo wings.
"""
