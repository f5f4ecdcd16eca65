# Doctests run over the package; these modules run a command when imported.
collect_ignore = ["xfconvert/__main__.py", "xfconvert/testing/__main__.py"]
