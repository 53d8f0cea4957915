"""The report layer: Markdown and figures, returned as strings and matplotlib figures (only
workflow scripts write them to files). It imports nothing from the studies."""
