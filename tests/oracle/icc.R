# psych::ICC reference (classical ANOVA estimates: lmer = FALSE), per dataset `ds`.
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
suppressMessages(library(psych))
d <- read.csv(file.path(wd, "icc_in.csv"))
rows <- list()
for (k in sort(unique(d$ds))) {
  x <- d[d$ds == k, ]
  w <- reshape(x[, c("target", "rater", "score")], idvar = "target", timevar = "rater", direction = "wide")
  w <- w[order(w$target), -1, drop = FALSE]
  r <- psych::ICC(as.matrix(w), lmer = FALSE)$results
  rows[[length(rows) + 1]] <- data.frame(ds = k, form = r$type, icc = r$ICC, F = r$F, df1 = r$df1,
    df2 = r$df2, p = r$p, ci_low = r[["lower bound"]], ci_high = r[["upper bound"]])
}
write_out(do.call(rbind, rows), file.path(wd, "out.csv"))
