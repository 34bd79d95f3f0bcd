"""Operations documents generated from the model: inventory, service documents, runbooks, DR plans and a
risk assessment (``seawall docs``).

``facts`` turns validated environments into plain data, ``measured`` reads what hosts and deploys
recorded, ``risks`` assesses the risks, and ``generate`` builds the documents' contexts and renders the
Jinja2 templates of ``templates/`` (overridable per project; ``seawall.templating``) into Markdown,
deterministically, and checks committed documents against it. Incident reports are ``seawall.incidents``.
"""
