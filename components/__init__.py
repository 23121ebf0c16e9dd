"""What runs inside the nasdet image: one package per pipeline step plus shared libraries."""
