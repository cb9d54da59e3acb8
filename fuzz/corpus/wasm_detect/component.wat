;; comment
(component)
