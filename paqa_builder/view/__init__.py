"""See a build: ``paqa-build view`` (a static HTML site) and the Label Studio round trip.

``site.render_site`` writes the viewer, ``labelstudio`` exports tasks with predictions and reads
corrected annotations back as a truth manifest for ``paqa-build eval``; ``headless`` drives a real
Chromium for the tests and the screenshot script.
"""
