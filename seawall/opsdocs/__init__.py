"""Operations documents generated from the model: inventory, service documents, runbooks, DR plans and a
risk assessment (``seawall docs``).

``facts`` turns validated environments into plain data, ``measured`` reads what hosts and deploys
recorded, ``risks`` computes findings, and ``generate`` renders the Jinja2 templates of ``templates/``
(overridable per project) into Markdown, deterministically, and checks committed documents against it.
"""
