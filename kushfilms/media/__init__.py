"""Videos: uploads, storage, transcoding into HLS, and playback.

``ingest/`` takes uploads in and probes them, ``transcoding/`` makes the HLS ladder
and the pictures, ``delivery/`` decides who may watch and hands the files out. At
the top: the routes, ``service.py`` (videos), ``pictures.py`` and ``images.py`` (a
film's poster and backdrop), ``flows.py`` (actions that
span domains), ``tasks.py`` (jobs), ``layout.py`` (where everything is stored),
``playlists.py`` (all HLS text), ``storage.py`` (the store) and ``gc.py``.
"""
