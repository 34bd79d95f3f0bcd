"""The disaster-recovery rehearsal: fresh hosts from the model and the backups, their data proved at the
application level, measured against the DR plan (``seawall dr rehearse``).

``plan`` holds the pure decisions (which hosts, which snapshot, targets met or missed), ``engine`` the
rehearsal over an executor (the seam: the lab's containers, or a temporary stack in the DR region made by
``stack``), ``report`` the JSON and Markdown report, the metrics and the recorded last rehearsal.
"""
