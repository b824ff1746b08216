-- A resource may be reserved for some plans (PRODUCT.md: "which plans may book it"), e.g. the
-- fixed desks for the annual plan. NULL: any plan whose resource kinds include its kind.
ALTER TABLE resources ADD COLUMN plan_codes text[];
