"""Mean intersection over union over classes (multiclass; the predicted class has the top score).

Per class c, one against the rest: ``TP_c / (TP_c + FP_c + FN_c)``, averaged over the classes in
the labels or the predictions. Equals scikit-learn's ``jaccard_score(average="macro")`` on
torch's argmax (on ties, the first maximal class is predicted).
"""

from metricloss import count_metric

iou_macro = count_metric("TP / (TP + FP + FN)", name="iou_macro", best=1.0, average="macro")
