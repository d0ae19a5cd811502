# sva::ComBat reference on the rows given, for each dataset `ds` x configuration in configs.csv.
args <- commandArgs(trailingOnly = TRUE); wd <- args[1]
source(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))), "common.R"))
suppressMessages(library(sva))
d <- read.csv(file.path(wd, "combat_in.csv"), stringsAsFactors = FALSE)
cfg <- read.csv(file.path(wd, "configs.csv"), stringsAsFactors = FALSE)
feats <- grep("^f", names(d), value = TRUE)
rows <- list()
for (k in sort(unique(d$ds))) {
  x <- d[d$ds == k, ]
  for (i in seq_len(nrow(cfg))) {
    c <- cfg[i, ]
    mod <- if (c$covars == "") NULL else model.matrix(as.formula(paste("~", c$covars)), data = x)
    out <- suppressMessages(ComBat(dat = t(as.matrix(x[, feats])), batch = as.character(x$batch), mod = mod,
                                   par.prior = as.logical(c$par), mean.only = as.logical(c$mean_only)))
    r <- data.frame(ds = k, config = c$name, row = x$row, t(out))
    names(r) <- c("ds", "config", "row", feats)
    rows[[length(rows) + 1]] <- r
  }
}
invisible(capture.output(write_out(do.call(rbind, rows), file.path(wd, "out.csv"))))
