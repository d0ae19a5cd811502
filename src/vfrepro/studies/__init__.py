"""Study branches: one module per reproduced paper (composition, tables, figures)."""
