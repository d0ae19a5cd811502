# Shared helpers for the oracle scripts: full-precision CSV out.
fmt <- function(df) {
  for (nm in names(df)) if (is.double(df[[nm]])) df[[nm]] <- sprintf("%.17g", df[[nm]])
  df
}
write_out <- function(df, path) write.csv(fmt(df), path, row.names = FALSE, quote = TRUE)
