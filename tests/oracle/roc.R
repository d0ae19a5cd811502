# pROC reference: per dataset `ds`, AUC + DeLong CI of score a, and roc.test(a, b, delong).
# Direction fixed to "<" (controls < cases), levels fixed to c(0, 1): no auto-detection.
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
suppressMessages(library(pROC))
d <- read.csv(file.path(wd, "roc_in.csv"))
rows <- list()
for (k in sort(unique(d$ds))) {
  x <- d[d$ds == k, ]
  ra <- roc(x$y, x$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  rb <- roc(x$y, x$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  ci <- as.numeric(ci.auc(ra, method = "delong", conf.level = 0.95))
  t <- roc.test(ra, rb, method = "delong", paired = TRUE)
  rows[[length(rows) + 1]] <- data.frame(
    ds = k, auc_a = as.numeric(auc(ra)), ci_low = ci[1], ci_high = ci[3],
    auc_b = as.numeric(auc(rb)), z = as.numeric(t$statistic), p = as.numeric(t$p.value),
    d_low = as.numeric(t$conf.int[1]), d_high = as.numeric(t$conf.int[2]))
}
write_out(do.call(rbind, rows), file.path(wd, "out.csv"))
