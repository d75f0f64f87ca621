"""The pages visitors see: the hosted form and its embed (form), the pages behind the links in
messages (links), and the preference centre (preferences). What they share is in common."""

from leadcapture.web.public import brand, form, links, preferences

BLUEPRINTS = (form.bp, links.bp, preferences.bp, brand.bp)
