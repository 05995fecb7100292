"""netbend studio: a browser app over the same library as the command line (`app`: the page, `work`: what it does)."""
