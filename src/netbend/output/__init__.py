"""Outputs: the H.264 video with its audio (`video`), and the plots and figures people look at."""
