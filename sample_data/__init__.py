"""The shipped sample data, installed with the package: the default human model
(``default_human_5ch.pt``), its model card and the labelled sample clip
(``sample_clip.mp4`` with ``sample_clip.npz``). Found through
:func:`core.checkpoint.sample_data_dir`; the files are described in ``README.md`` here.
"""
