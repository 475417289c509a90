"""What every screen stands on: access and log-ins, the request's log line, screening and security headers,
error pages, forms and their fields, pickers, lists and links, versions of a record, the words of the screens."""
