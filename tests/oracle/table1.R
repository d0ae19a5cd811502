# Base-R reference for liu2025_dlr Table 1: one-way ANOVA (oneway.test, equal variances) of age and
# T-score over cohorts on patient rows, Pearson chi-square (no correction) of sex (patients),
# segment, level and class (vertebrae).
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
v <- read.csv(file.path(wd, "vert.csv"), stringsAsFactors = TRUE)
p <- v[!duplicated(v$case_id), ]
chi <- function(a, b) suppressWarnings(chisq.test(table(a, b), correct = FALSE)$p.value)
out <- data.frame(
  what = c("age", "t_score", "sex", "segment", "level", "label"),
  p = c(oneway.test(age ~ split, p, var.equal = TRUE)$p.value,
        oneway.test(t_score ~ split, p, var.equal = TRUE)$p.value,
        chi(p$sex, p$split), chi(v$segment, v$split), chi(v$level, v$split), chi(v$label, v$split)))
write_out(out, file.path(wd, "out.csv"))
